"""sitewatch.report"""
