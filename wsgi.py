"""Entry point: gunicorn wsgi:app, flask --app wsgi ivr ..."""

from ivr import create_app

app = create_app()
