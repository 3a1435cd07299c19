"""The one place on the client side that knows the bundled sandbox: start it, sign in headless, its ids."""
