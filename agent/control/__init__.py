"""Control: acting on the remote tool the person chose to stop, pause or trust.

``actions`` suspends, resumes and stops a process tree, ``suspended`` keeps the
on-disk record that no crash leaves a tool frozen, ``trust_store`` the active
"I know this person" choices.

May import: the vocabularies (events, verdict, errors, config, redact).
Imported by: the runtime and the dialog.
"""
