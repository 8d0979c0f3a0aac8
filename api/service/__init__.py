"""The inspection service: FastAPI app (`api.service.app.create_app`), persistence, image store,
worker function (`api.service.worker.run_inspection`) and event delivery."""
