"""The workflow: what touches the catalog and orders the stages.

`ingest` (images into the catalog), `align_site`, `detect_site`, `looks` (a site's dates as
the change stage reads them), `pipeline` (the one place that knows the order of the stages)
and `demo` (the bundled scenario, end to end). The stages below it (`geo`, `detect`,
`change`, `assess`, `report`) take and return domain objects and never import the catalog.
"""
