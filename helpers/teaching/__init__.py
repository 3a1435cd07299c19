"""What only the notebooks need: display, forms, sign-in widget, exercises, pictures, troubleshooting."""
