"""VENOM hardware agent (F-HW-1, F-HW-2): samples the host or replays a recorded CSV, computes θ,
publishes ``venom.metrics.<node>`` and the hardware profile ``venom.hardware.<node>``.
See docs/HARDWARE.md."""
