"""Clients for the outside world: provider usage/cost APIs and Stripe. They return typed records."""
