"""The synthetic MSP's generator, one module per concern.

world (plan objects and the build order), names (client names per system),
clients (members, companies, agreements), devices (NinjaOne devices and lazy
snapshots), connectwise (tickets, time entries), quickbooks (billing, P&L),
render (plans -> API records as of the clock, advance), handmade (an MSP from
explicit records, for hand-counted tests), timeutil (calendar and formats).
"""
