"""Minqing's domain: aggregates, process templates, vote rules, policies and the Application."""
