"""Praxis contracts: the schemas, events and errors that cross a service boundary.

Everything here is shared by the gateway and the services, so one side cannot
send what the other side would refuse.
"""
