"""sitewatch.simulate"""
