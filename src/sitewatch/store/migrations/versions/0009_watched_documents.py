"""watched_documents: the validators and links of a remote static STAC catalog's documents

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-20 10:00:00

A new table only (issue 30): each document of a static STAC catalog watched at an http(s)
URL, as last read whole, so the next read is a conditional GET (If-None-Match,
If-Modified-Since) or, where the server gives no validators, compared by checksum.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('watched_documents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('etag', sa.Text(), nullable=True),
    sa.Column('last_modified', sa.Text(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.Column('checked', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['watch_sources.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'url')
    )
    with op.batch_alter_table('watched_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_watched_documents_source_id'), ['source_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('watched_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_watched_documents_source_id'))
    op.drop_table('watched_documents')
