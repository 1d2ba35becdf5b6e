"""The fraud model service. Every file in app/ is written by a %%writefile cell of a lesson notebook."""
