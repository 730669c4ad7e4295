"""detections: the presence check's own answer

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 08:40:00

A nullable column: detections stored before it, and detections of classes or models
without a presence check, have none.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('detections', sa.Column('presence_score', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('detections') as batch:
        batch.drop_column('presence_score')
