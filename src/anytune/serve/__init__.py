"""``anytune serve``: OpenAI's files, uploads, fine-tuning, models and chat-completions API,
served over any provider through the provider contract (needs ``pip install 'anytune[serve]'``).

::

    from anytune.serve.app import create_app, wrap
    from anytune.serve.service import ServeConfig
    app = wrap(create_app(ServeConfig(provider="memory", data_dir=path), provider), config)

Modules: ``app`` (ASGI app, errors, body limits), ``routes_*`` (one per resource),
``service`` / ``jobs`` (the blocking work, run in the thread pool), ``chat`` (the
chat-completion request and response objects), ``generation`` (running the model: stop
sequences, usage, a thread per streamed completion), ``state`` (the server's SQLite file),
``shapes`` (OpenAI's JSON objects), ``auth`` (keys, projects).
"""
