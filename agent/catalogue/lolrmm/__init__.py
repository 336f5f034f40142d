"""LOLRMM import: the public remote-admin catalogue, filtered and repaired into a ratwatch file.

``convert`` drives the import, ``policy`` decides which entries are consumer-scam
remote-control tools, ``repair`` fixes LOLRMM's known data problems field by field.

May import: the rest of ``agent.catalogue`` and the vocabularies.
Imported by: ``agent.commands.signatures`` (``ratwatch-agent signatures import-lolrmm``).
"""
