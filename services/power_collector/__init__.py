"""power-collector: accelerator power per measurement window from NVIDIA DCGM exporter endpoints.

BeginWindow scrapes every configured ``/metrics`` endpoint and keeps the snapshot; while any
window is open a background task samples again every ``sample_interval_s``; EndWindow scrapes
once more and reports, per GPU, the mean power from the energy counter when it advanced, else
the mean of the power samples (:mod:`.core`). docs/power.md states the rules.
"""
