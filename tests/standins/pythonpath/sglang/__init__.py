"""A stand-in for the `sglang` package, for tests only: see tests/standins/sglang_server.py.

It lives in its own folder so that putting tests/standins on sys.path (to import the
stand-in servers) does not make the test process believe SGLang is installed."""
