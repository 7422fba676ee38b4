"""The pilot's private ledger: its own Django app (label ``ledger``) inside the market package.

A linked character's wallet, journal, transactions and orders, synced from ESI (``sync``), kept
for good (``models``), turned into realized profit (``profit``, pure FIFO/average), checked
against the market's best prices (``undercut``) and shown on the ledger pages (``queries``,
``views``). Dependencies run one way: ``ledger`` → ``market`` and ``ledger`` → ``accounts``;
nothing in ``market`` imports the ledger. It reacts to the others through their signals
(``receivers``).
"""
