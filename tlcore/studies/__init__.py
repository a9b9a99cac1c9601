"""Studies: one module per chapter, each the multi-run experiment its chapter is made of.

A study takes a :class:`~tlcore.studies.profiles.Profile` and returns tidy frames; the chapter saves them and the
claims of :mod:`tlcore.claims` read them. :mod:`~tlcore.studies.common` holds what several chapters share.
"""
