"""alerts: when a delivery went dead, how often it was replayed, and when it was acknowledged

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-13 10:00:00

Columns for the dead-letter list, `sitewatch alerts replay` and the web inbox's acknowledge
(issue 30): alerts stored before them were never replayed nor acknowledged, and their dead
time is not known (null).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('dead_at', sa.DateTime(), nullable=True))
    op.add_column('alerts', sa.Column('replays', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('alerts', sa.Column('acknowledged', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('acknowledged')
        batch.drop_column('replays')
        batch.drop_column('dead_at')
