"""Rasters on site grids: grids, reading, ingestion and co-registration.

Pure modules (import only the domain and each other):
  grid        site grids: local UTM zone from lat/lon, origin snapped to the GSD
  raster      what a raster is, read through decimated reads: CRS, GSD in metres, valid-data
              footprint in EPSG:4326, tag datetimes
  sitefile    sites and zones from GeoJSON
  coregister  illumination-robust structure, windowed phase correlation, robust fits
  synthetic   textured rasters with a known misregistration, for tests and benchmarks

Modules that also use the catalog (sitewatch.store):
  ongrid      pixels of any image on a site-grid window, alignment applied (read_aligned)
  ingest      files, folders and STAC into the catalog
  align       align_site / align_pair: coarse-to-fine co-registration to a reference image
"""
