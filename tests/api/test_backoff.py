from api.backoff import backoff_s


def test_doubles_from_the_base_and_stops_at_the_cap():
    assert [backoff_s(k, base_s=0.5, max_s=3.0) for k in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
