"""MIR on waveforms: decoding, source separation, rhythm, tonality, structure, loudness and timbre.

Every function here is a plain function over numpy arrays; none knows about Ray or Parquet.
"""
