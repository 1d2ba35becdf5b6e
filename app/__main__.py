"""`python -m app`: the single-process server the notebooks start (no debug reloader: it breaks metrics)."""
from app.config import Settings
from app.main import create_app

if __name__ == "__main__":
    settings = Settings.from_env()
    create_app(settings).run(host=settings.host, port=settings.port, threaded=True, debug=False,
                             use_reloader=False)
