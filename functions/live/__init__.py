"""Live updates over WebSocket: tickets, connections, the events pushed, and the pusher.

The VPC side (database, no internet) records connections and, after a state change is
committed, sends one live-events message naming the owner's connections. The pusher runs
outside the VPC without database access: it posts each message through the API Gateway
Management API and reports connections that are gone (410) on live-gone, which a VPC
function consumes to delete their rows. Locally functions/local/live.py plays API Gateway.
"""
