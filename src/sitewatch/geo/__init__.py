"""Rasters on site grids: grids, reading and co-registration (no catalog here).

  grid        site grids: local UTM zone from lat/lon, origin snapped to the GSD
  imagefile   opening users' images: real raster formats only (no VRT), no sibling or network lookups
  raster      what a raster is, read through decimated reads: CRS, GSD in metres, valid-data
              footprint in EPSG:4326, tag datetimes
  sitefile    sites and zones from GeoJSON
  coregister  illumination-robust structure, windowed phase correlation, robust fits
  ongrid      pixels of any image on a site-grid window, alignment applied (read_aligned)
  align       align_pair: coarse-to-fine co-registration of an image to a reference image
  sharpness   edge blur of an image, in metres on the ground
  sun         where the sun stood over an image
  synthetic   textured rasters with a known misregistration, for tests and benchmarks

Ingesting into the catalog and aligning a whole site are `sitewatch.workflow`'s.
"""
