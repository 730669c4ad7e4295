"""sitewatch.assess"""
