"""Energy analytics over stored series: one function per question, units in every name."""
