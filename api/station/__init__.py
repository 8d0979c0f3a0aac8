"""The inline station: trigger -> capture every view -> inspect -> persist/submit -> publish."""
