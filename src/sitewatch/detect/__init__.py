"""sitewatch.detect"""
