"""A local HTTP service on top of the library: ``deepface-gen serve``.

* ``limits``: what one request may ask for (faces, steps, upload size, time);
* ``engine``: one worker that owns the model and gathers concurrent requests into
  batched, already-compiled calls;
* ``codecs``: images in and out of HTTP (uploads, base64 PNGs, grids);
* ``app``: the FastAPI application (JSON API, OpenAPI docs, the web page in
  ``static/``).
"""
