"""Stream formats: how the records of a metric stream object are read, one module per output format."""
