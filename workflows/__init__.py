"""The licensing domain: models and the operations that coordinate engine, forms and signing."""
