"""Using a trained generator: full-resolution colorization, the MLflow pyfunc model for
`mlflow models serve`, the model registry's champion, and the `colorgan` command line."""
