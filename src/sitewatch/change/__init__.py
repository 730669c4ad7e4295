"""sitewatch.change"""
