"""events: the corroboration grade and each source's word on the finding

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-11 10:00:00

A nullable JSON column: events stored before it were not graded (issue 32).
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('events', sa.Column('corroboration', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.drop_column('corroboration')
