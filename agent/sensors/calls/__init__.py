"""The calls sensor: a call in progress on the PC itself (softphone, VoIP, phone-link app).

``sensor`` polls; ``mic`` asks whether the microphone is capturing, with one
module per OS (``mic_linux``, ``mic_windows``).

May import: ``agent.sensors.base``, identify, catalogue and the vocabularies.
Imported by: the sensor registry (``agent.sensors``).
"""
