"""sitewatch.geo"""
