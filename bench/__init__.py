"""Benchmarks of Praxis against the raw stack it is built on (`make bench`).

``python -m bench`` makes its own RabbitMQ vhost and its own nx-27017 on a free
port, starts a bare Flask app and the whole Praxis system beside them, measures
each pair in the same run and prints a table with the ratio Praxis/raw. It never
asserts a time: it exits non-zero only when something could not run.
See bench/README.md.
"""
