//! SSV key shares: Shamir split over the BLS12-381 scalar field, share encryption to operators, keyshares.json.
