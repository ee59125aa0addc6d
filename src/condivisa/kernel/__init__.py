"""The time kernel, the floor every other one stands on: the civil time grid (:mod:`.timegrid`) and the
platform's one clock (:mod:`.clock`)."""
