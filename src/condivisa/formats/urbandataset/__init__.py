"""ENEA's UrbanDataset (SCPS Information 2.0) for chain-2 user devices: types, profile, parse, emit."""
