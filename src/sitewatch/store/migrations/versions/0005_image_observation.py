"""images: the source and viewing geometry their metadata states, and integrity caveats

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-04 10:00:00

Nullable columns: images ingested before them have none of these facts (unknown), and an
image whose metadata does not state one keeps it unknown (issue 32).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_COLUMNS = (
    ('provider', sa.String(length=200)),
    ('platform', sa.String(length=200)),
    ('constellation', sa.String(length=200)),
    ('instruments', sa.JSON()),
    ('modality', sa.String(length=40)),
    ('stated_gsd_m', sa.Float()),
    ('off_nadir_deg', sa.Float()),
    ('view_azimuth_deg', sa.Float()),
    ('sun_azimuth_deg', sa.Float()),
    ('sun_elevation_deg', sa.Float()),
    ('observation_origin', sa.String(length=40)),
    ('caveats', sa.JSON()),
)


def upgrade() -> None:
    # plain ADD COLUMN, no batch: a batch copies and drops the images table, and with
    # SQLite's foreign keys on, dropping it would cascade to every row that points at it
    for name, kind in _COLUMNS:
        op.add_column('images', sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    # SQLite (3.35 and later) drops a column in place, for the same reason as above
    for name, _ in reversed(_COLUMNS):
        if op.get_bind().dialect.name == 'sqlite':
            op.execute(f'ALTER TABLE images DROP COLUMN {name}')
        else:
            op.drop_column('images', name)
