"""Agreement documents of the demo (synthetic, for the 2017-2018 story)."""
