"""alignments: registration uncertainty (CE90, metres) and the changed share of the overlap

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-20 10:00:00

Nullable columns: alignments stored before them have neither. The status column also
takes 'georef' now (an image kept on its own georeference); it is a plain string, so no
change is needed there.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alignments', sa.Column('ce90_m', sa.Float(), nullable=True))
    op.add_column('alignments', sa.Column('changed_fraction', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alignments') as batch:
        batch.drop_column('changed_fraction')
        batch.drop_column('ce90_m')
