"""sitewatch.store"""
