"""The portal's toolkit: the Jinja2 environment, templates, static files, forms and CSRF."""
