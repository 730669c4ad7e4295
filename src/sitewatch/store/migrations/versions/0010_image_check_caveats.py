"""images: the caveats of the checks a run makes on an image's pixels (the shadow check)

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-24 10:00:00

One nullable column (issue 32): what the last run's checks on the image's own pixels found
doubtful (the shadows against the stated time and place), kept apart from the caveats
ingest's metadata checks found (`caveats`), so that each run replaces its own findings and
never the metadata's. Images checked before it have none (not checked).
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, no batch: a batch copies and drops the images table, and with
    # SQLite's foreign keys on, dropping it would cascade to every row that points at it
    op.add_column('images', sa.Column('check_caveats', sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite (3.35 and later) drops a column in place, for the same reason as above
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE images DROP COLUMN check_caveats')
    else:
        op.drop_column('images', 'check_caveats')
