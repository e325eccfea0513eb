"""Music theory on symbolic events (chords, keys, beats): Roman numerals, harmonic function, and more."""
