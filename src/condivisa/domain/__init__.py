"""Pure domain model: the community, its members, PODs and plants (:mod:`.community`), the YAML loader
(:mod:`.config`) and the regulated tariff tables (:mod:`.tariffs`)."""
