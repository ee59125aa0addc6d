"""Simulated parts: user devices that send over MQTT/REST (:mod:`.devices`) and the demo community's "
"data (:mod:`.demo_data`)."""
